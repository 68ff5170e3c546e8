"""The book's chapter-5 app (hello.py), the baseline bench.run serves beside hrllo."""
