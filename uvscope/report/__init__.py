"""The report room: the printable HTML report of an analysed scan.

It sits above ``analysis`` (it reads the analysis's files and types) and below the CLI and
the GUI; storage (``uvscope.io``) and analysis never import it.
"""
