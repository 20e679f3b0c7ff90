-- drdrill ping table: the seed's testdb.ping (DR PoC, section 6) with each
-- row tagged so that it can be traced to one drill, writer and sequence.
-- Canonical copy: harness/workload/schema.sql (embedded as workload.Schema);
-- fixtures/schema.sql must stay identical (a unit test checks).
CREATE DATABASE IF NOT EXISTS testdb;
CREATE TABLE IF NOT EXISTS testdb.ping (
  id         BIGINT AUTO_INCREMENT PRIMARY KEY,
  msg        VARCHAR(50),
  created_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),
  drill_id   VARCHAR(40) NOT NULL DEFAULT '',
  seq        BIGINT NOT NULL DEFAULT 0,
  phase      VARCHAR(16) NOT NULL DEFAULT '',
  writer     INT NOT NULL DEFAULT 0,
  UNIQUE KEY drill_seq (drill_id, writer, seq)
) ENGINE=InnoDB;
