from execution_service.cli import main

raise SystemExit(main())
