FLASK_APP=hrllo.py
