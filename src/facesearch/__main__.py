from facesearch.cli import main

main()
