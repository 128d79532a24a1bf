from assistant.serve.cli import main

raise SystemExit(main())
