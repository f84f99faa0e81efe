"""The facerec desktop application (PySide6). Views call the core in ``facerec``; they hold no recognition logic."""
