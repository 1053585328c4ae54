PRAGMA foreign_keys=OFF;
BEGIN TRANSACTION;
CREATE TABLE t(a);
INSERT INTO "t"(rowid,"a") VALUES(1,'kept');
CREATE VIEW v AS SELECT load_extension('./evil.so') AS x;
COMMIT;
