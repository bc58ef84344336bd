// Module CLIProcess: see the files beside this one.
