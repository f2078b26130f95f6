"""Instructor side of the labs: build student notebooks, run notebooks headless,
release assignments and grade submissions with nbgrader.

Students never need this package; ``import labs`` does not import it.
"""
