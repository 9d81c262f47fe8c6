"""The back-end wing: what a back end does with the nodes' messages, logged in as a login of its
own (`broker user NAME`): the fleet table (fleet), the readings stored exactly once in SQLite
(collect), and the login they share (login)."""
