"""easyfirst.cli"""
