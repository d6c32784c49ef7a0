"""easyfirst.pacing"""
