from uvscope.cli import main

main()
