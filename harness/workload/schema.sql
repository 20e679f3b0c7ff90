-- drdrill ping table: the seed's testdb.ping (DR PoC, section 6) with each
-- row tagged so that it can be traced to one drill, writer and sequence.
-- The tags are NULL unless a drill sets them: the seed's own
-- INSERT INTO ping(msg) VALUES (...) by hand leaves them NULL, and a unique
-- key allows any number of NULLs, so untagged rows never collide (with
-- NOT NULL DEFAULT ''/0 the second one failed: Duplicate entry for key
-- 'drill_seq'). drdrill reads only rows WHERE drill_id = its drill.
-- Canonical copy: harness/workload/schema.sql (embedded as workload.Schema);
-- fixtures/schema.sql must stay identical (a unit test checks).
CREATE DATABASE IF NOT EXISTS testdb;
CREATE TABLE IF NOT EXISTS testdb.ping (
  id         BIGINT AUTO_INCREMENT PRIMARY KEY,
  msg        VARCHAR(50),
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  drill_id   VARCHAR(40) NULL DEFAULT NULL,
  seq        BIGINT NULL DEFAULT NULL,
  phase      VARCHAR(16) NULL DEFAULT NULL,
  writer     INT NULL DEFAULT NULL,
  UNIQUE KEY drill_seq (drill_id, writer, seq)
) ENGINE=InnoDB;
