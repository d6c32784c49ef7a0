"""easyfirst.audio"""
