//! Services: the business logic, generic over the ports.
