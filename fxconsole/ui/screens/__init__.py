"""The console's screens: main, help, and the modal dialogs."""
