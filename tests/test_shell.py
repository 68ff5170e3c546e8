"""The reference text's shell sessions, typed as a user types them."""

from tests.conftest import run_project_command

# Sessions (3), (5) and (10): `flask shell` has already pushed an app context.
SESSION = """\
from hrllo import app
from hrllo import db
db.create_all()
from hrllo import Role, User
obs_role = Role(name='Observer')
user_fred = User(username='fred', role=obs_role)
user_steve = User(username='steve', role=obs_role)
db.session.add_all([obs_role, user_fred, user_steve])
db.session.commit()
obs_role.users.order_by(User.username).all()
User.query.all()
"""


def test_flask_shell_session(tmp_path):
    result = run_project_command(
        ["flask", "shell"],
        input=SESSION,
        env={"DATABASE_URL": "sqlite:///" + str(tmp_path / "data.sqlite")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[<User 'fred'>, <User 'steve'>]") == 2, result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_python_session_with_a_pushed_app_context(tmp_path):
    session = """\
from hrllo import app, db, Role, User
app.app_context().push()
db.create_all()
obs_role = Role(name='Observer')
user_fred = User(username='fred', role=obs_role)
user_steve = User(username='steve', role=obs_role)
db.session.add_all([obs_role, user_fred, user_steve])
db.session.commit()
obs_role.users.order_by(User.username).all()
User.query.all()
obs_role
"""
    result = run_project_command(
        ["python", "-i", "-q"],
        input=session,
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
