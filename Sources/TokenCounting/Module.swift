// Module TokenCounting: see the files beside this one.
