// Module SessionStore: see the files beside this one.
