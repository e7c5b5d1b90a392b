"""Clinic time: working hours, closures (Shabbat, Israeli holidays) and free-slot search.

Pure functions over plain values, so the built-in backend and the Odoo backend share them.
"""
