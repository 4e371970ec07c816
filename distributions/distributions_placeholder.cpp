// placeholder until the distributions layer lands
