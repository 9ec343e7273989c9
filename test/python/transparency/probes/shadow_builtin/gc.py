USER = "user gc.py"
