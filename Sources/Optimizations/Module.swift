// Module Optimizations: see the files beside this one.
