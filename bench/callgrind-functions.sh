# Shared by bench/callgrind.sh and bench/callgrind-quota.sh (sourced, not run): reading callgrind
# outputs back as instructions per function, and the table of the costliest functions per unit of
# work. Both expect `$work`, the folder the scripts copy their binaries into.

# Instructions per function of a callgrind output, "count<TAB>name", names demangled.
costs() { # callgrind output, yes|no (inclusive)
    callgrind_annotate --inclusive="$2" --threshold=100 "$1" 2>/dev/null \
        | awk -v copies="$work/" '/^ *[0-9,]+ +\([ 0-9.]+%\) / {
              n = $1; gsub(",", "", n); line = $0
              sub(/^ *[0-9,]+ +\([ 0-9.]+%\) +/, "", line)   # the count and its share of this run
              sub(/^[^ ]*:/, "", line)                      # the source file, "???" without debug info
              if (match(line, / \[[^]]*\]$/)) {             # the object: a library by its file name
                  object = substr(line, RSTART + 2, RLENGTH - 3); line = substr(line, 1, RSTART - 1)
                  k = split(object, part, "/")
                  if (index(object, copies) != 1) line = line " [" part[k] "]"  # not the copied binary
              }
              print n "\t" line }' \
        | swift demangle --simplified 2>/dev/null
}

# The TOP costliest functions per unit, inclusive then self, from two runs' outputs that differ by
# `units` units of work: each function's count in run b less run a's, over `units`.
top_functions() { # output of the shorter run, of the longer run, units, unit name, total per unit, binary
    local a=$1 b=$2 units=$3 unit=$4 total=$5 binary=$6 kind
    costs "$a" yes >"$work/inc.a"; costs "$a" no >"$work/self.a"
    costs "$b" yes >"$work/inc.b"; costs "$b" no >"$work/self.b"
    for kind in inc self; do
        echo
        if [[ $kind == inc ]]; then echo "Inclusive instructions per $unit, top ${TOP:-40} functions ($binary):"
        else echo "Self instructions per $unit (the function's own, without its callees), top ${TOP:-40}:"; fi
        echo
        echo "| per $unit | function |"
        echo "|---|---|"
        # A row above the total is one-time work that fell in one run only (a lazy global
        # first touched from another caller): not a cost per unit.
        awk -F'\t' -v total="$total" -v units="$units" '
            NR == FNR { a[$2] += $1; next }
            { b[$2] += $1 }  # summed: one name may stand for several functions (the file is dropped)
            END { for (f in b) { d = (b[f] - a[f]) / units; if (d >= 50 && d <= total) printf "%d\t%s\n", d, f } }
        ' "$work/$kind.a" "$work/$kind.b" | sort -t$'\t' -k1,1nr | head -n "${TOP:-40}" \
            | awk -F'\t' '{ name = $2; gsub(/\|/, "\\|", name); if (length(name) > 160) name = substr(name, 1, 160) "..."
                            printf "| %d | `%s` |\n", $1, name }' || true  # head closes the pipe early
    done
}
