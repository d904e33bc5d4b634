from esak.cli import main

main()
