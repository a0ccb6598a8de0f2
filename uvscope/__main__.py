import sys

try:
    from uvscope.cli import main
except KeyboardInterrupt:  # Ctrl-C while Python is still starting: the same exit as later on
    sys.stderr.write("interrupted\n")
    sys.exit(130)

main()
