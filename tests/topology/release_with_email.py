"""hrllo's next release in the worked example of docs/schema-changes.md: users get an
optional email. This release only adds the column to the model (the expand step, whose
revision `flask db migrate` writes); the greeting is unchanged and never reads it yet.

gunicorn serves it as tests.topology.release_with_email:app and `flask --app` loads it. Never import
it into the test process: it changes hrllo.User for everything in that process.
"""

from hrllo import User, app, db

__all__ = ["app"]

# Declarative maps a column added to a model class after the fact, as SQLAlchemy documents.
User.email = db.Column(db.String(254))  # NULL for everyone, until a later release asks
