// Module HTTPServer: see the files beside this one.
