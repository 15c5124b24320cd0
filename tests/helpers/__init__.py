"""Plain helpers shared by test modules, by topic; fixtures stay in the conftests, factories in tests/factories.py."""
