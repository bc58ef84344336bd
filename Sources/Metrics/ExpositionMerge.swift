// Several registries' scrapes as one: each event loop of the process keeps its own metrics (no
// lock on the paths that record them), and a scrape of the process adds them up.

extension Exposition {
    /// One scrape from several of the same shape: samples with the same name and labels are
    /// added (counters, histogram buckets, sums and counts, and the gauges, which count things
    /// each loop holds). Families keep the order they first appeared in, each with its comment
    /// lines once and its samples together (the format requires a family's lines to be
    /// contiguous), a sample only some scrapes have joining its family's end.
    public static func merge(_ scrapes: [String]) -> String {
        guard scrapes.count > 1 else { return scrapes.first ?? "" }
        struct Family {
            var comments: [Substring] = []
            var samples: [(key: Substring, total: Double)] = []
            var sampleIndex: [Substring: Int] = [:]
        }
        var families: [Family] = []
        var familyIndex: [Substring: Int] = [:]
        for scrape in scrapes {
            var current: Int?
            for line in scrape.split(separator: "\n", omittingEmptySubsequences: true) {
                if line.hasPrefix("#") {
                    // `# HELP name ...` and `# TYPE name ...` open a family.
                    let words = line.split(separator: " ", maxSplits: 3)
                    guard words.count >= 3, words[1] == "HELP" || words[1] == "TYPE" else { continue }
                    let name = words[2]
                    let index = familyIndex[name] ?? {
                        families.append(Family())
                        familyIndex[name] = families.count - 1
                        return families.count - 1
                    }()
                    if !families[index].comments.contains(line) { families[index].comments.append(line) }
                    current = index
                    continue
                }
                // The value follows the last space: label values may hold spaces, values never do.
                guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
                else { continue }
                let key = line[..<space]
                let index = current ?? {
                    families.append(Family())
                    return families.count - 1
                }()
                current = index
                if let at = families[index].sampleIndex[key] {
                    families[index].samples[at].total += value
                } else {
                    families[index].sampleIndex[key] = families[index].samples.count
                    families[index].samples.append((key, value))
                }
            }
        }
        var out = ""
        for family in families {
            for comment in family.comments { out += comment + "\n" }
            for sample in family.samples { out += sample.key + " " + number(sample.total) + "\n" }
        }
        return out
    }
}
