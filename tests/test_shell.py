"""The reference text's shell sessions, typed as a user types them."""

from deploy.hosts import run_project_command

# Session (5) from db.create_all() on, and (10)'s query: the same in both shells.
OBSERVERS = """\
db.create_all()
obs_role = Role(name='Observer')
user_fred = User(username='fred', role=obs_role)
user_steve = User(username='steve', role=obs_role)
db.session.add_all([obs_role, user_fred, user_steve])
db.session.commit()
obs_role.users.order_by(User.username).all()
User.query.all()
"""

# `flask shell` has already pushed an app context: sessions (3) and (5).
FLASK_SHELL = (
    """\
from hrllo import app
from hrllo import db
from hrllo import Role, User
"""
    + OBSERVERS
)

# Plain python: import, then push an app context first, as the session does.
PYTHON = (
    """\
from hrllo import app, db, Role, User
app.app_context().push()
"""
    + OBSERVERS
    + "obs_role\n"
)


def test_flask_shell_session(tmp_path):
    result = run_project_command(
        ["flask", "shell"],
        input=FLASK_SHELL,
        env={"DATABASE_URL": "sqlite:///" + str(tmp_path / "data.sqlite")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[<User 'fred'>, <User 'steve'>]") == 2, result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_python_session_with_a_pushed_app_context(tmp_path):
    result = run_project_command(
        ["python", "-i", "-q"],
        input=PYTHON,
        env={"DATABASE_URL": "sqlite:///" + str(tmp_path / "data.sqlite")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[<User 'fred'>, <User 'steve'>]") == 2, result.stdout
    assert "<Role 'Observer'>" in result.stdout
    assert "Traceback" not in result.stderr


def test_flask_shell_knows_db_user_and_role_without_imports(tmp_path):
    result = run_project_command(
        ["flask", "shell"],
        input="print(db, User, Role)\n",
        env={"DATABASE_URL": "sqlite:///" + str(tmp_path / "data.sqlite")},
    )
    assert "<SQLAlchemy sqlite:///" in result.stdout
    assert "<class 'hrllo.User'> <class 'hrllo.Role'>" in result.stdout
