"""easyfirst.analysis"""
