// placeholder until the nn layer lands
