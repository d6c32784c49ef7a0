"""easyfirst.scoring"""
