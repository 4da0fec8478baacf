SELECT * FROM `order` WHERE [my col] = "bob" -- c
/* a /* b */ c */