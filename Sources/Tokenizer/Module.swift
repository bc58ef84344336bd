// Module Tokenizer: see the files beside this one.
