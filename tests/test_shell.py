"""The shell sessions of *Flask Web Development*, chapter 5 ("Database Operations" and
"Integration with the Python Shell"), typed as a user types them."""

import re

from tests.support import PROJECT, run_command

# The chapter's session from db.create_all() on, and its query of a role's users: the same in
# both shells.
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

# Plain python: import, then push an app context first (Flask-SQLAlchemy needs one).
PYTHON = (
    """\
from hrllo import app, db, Role, User
app.app_context().push()
"""
    + OBSERVERS
    + "obs_role\n"
)


def readme_shell_session():
    """The `flask shell` session in README.md, as printed: (what is typed, what it prints)."""
    readme = (PROJECT / "README.md").read_text()
    block = re.search(r"```python\n\$ flask shell\n(.*?)```", readme, re.S).group(1)
    typed = [line[4:] for line in block.splitlines() if line.startswith(">>> ")]
    printed = [line for line in block.splitlines() if line and not line.startswith(">>> ")]
    return "\n".join(typed) + "\n", printed


def test_the_readmes_shell_session_on_the_migrated_database(tmp_path):
    env = {"DATABASE_URL": "sqlite:///" + str(tmp_path / "data.sqlite")}
    assert run_command(["flask", "db", "upgrade"], env=env).returncode == 0
    typed, printed = readme_shell_session()

    result = run_command(["flask", "shell"], input=typed, env=env)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    for line in printed:
        assert line in result.stdout, (line, result.stdout)
    # and the migrations still work on that database afterwards
    again = run_command(["flask", "db", "upgrade"], env=env)
    assert again.returncode == 0, again.stderr


def test_python_session_with_a_pushed_app_context(tmp_path):
    result = run_command(
        ["python", "-i", "-q"],
        input=PYTHON,
        env={"DATABASE_URL": "sqlite:///" + str(tmp_path / "data.sqlite")},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("[<User 'fred'>, <User 'steve'>]") == 2, result.stdout
    assert "<Role 'Observer'>" in result.stdout
    assert "Traceback" not in result.stderr


def test_flask_shell_knows_db_user_and_role_without_imports(tmp_path):
    result = run_command(
        ["flask", "shell"],
        input="print(db, User, Role)\n",
        env={"DATABASE_URL": "sqlite:///" + str(tmp_path / "data.sqlite")},
    )
    assert "<SQLAlchemy sqlite:///" in result.stdout
    assert "<class 'hrllo.User'> <class 'hrllo.Role'>" in result.stdout
