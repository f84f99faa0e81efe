"""The four views of the main window: people, live, library, settings."""
