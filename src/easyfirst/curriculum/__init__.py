"""easyfirst.curriculum"""
