"""easyfirst.training"""
