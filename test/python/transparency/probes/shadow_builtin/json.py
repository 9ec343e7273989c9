USER = "user json.py"
