"""Record forms (Flask-WTF) and user-task forms."""
