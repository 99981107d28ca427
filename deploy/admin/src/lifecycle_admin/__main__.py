from lifecycle_admin.cli import main

raise SystemExit(main())
