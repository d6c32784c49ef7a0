"""easyfirst.recording"""
