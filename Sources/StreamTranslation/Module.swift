// Module StreamTranslation: see the files beside this one.
