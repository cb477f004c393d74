"""Operations: the console database (schema, writers, readers, commands) and the supervisor.

Import the submodules you need (``fxconsole.ops.db``, ``.writer``, ``.commands``,
``.queries``); this package imports nothing on its own so that workers stay light.
"""
