"""sqlfile"""
