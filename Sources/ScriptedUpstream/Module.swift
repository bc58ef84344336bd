// Module ScriptedUpstream: see the files beside this one.
