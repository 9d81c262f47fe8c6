# Entry point on the board (and on the unix port): one wake cycle of the node.
import node.app

node.app.main()
