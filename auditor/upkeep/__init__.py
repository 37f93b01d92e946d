"""The work done over the store, apart from the store itself.

``auditor.index`` stores sessions, failures, text and commands on one of two
engines and does nothing else. What is done over it lives here, called by
the proxy's child process (``worker_process``) and by the command line:

- ``text_extraction``: what sessions printed, into the full-text index;
- ``command_extraction``: the commands users ran, read off the emulated screen;
- ``keyframe_files``: seek points for ended recordings;
- ``recovery``: sessions left live by a proxy that is gone become interrupted;
- ``termination``: who may end which live session, asked through the index;
- ``retention``: the retention policy, applied by ``prune`` and daily by the proxy;
- ``migration``: one machine's sessions into a shared store (``auditor migrate``);
- ``asciicast_import``: asciicast files into recordings and the index.
"""
