"""The benchmark: a million users, our users table against a plain Flask-Admin ModelView."""
